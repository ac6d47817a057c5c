#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
void openblas_set_num_threads(int);
static float rnd(){ return (float)rand()/RAND_MAX*2-1; }
int main(){
  int shapes[][3] = {{24,216,576},{48,432,144},{192,1728,9},{768,192,9},{640,2560,81},{640,5760,81},{256,2304,324},{96,864,36},{320,2880,1296},{1280,640,5184}};
  int bad=0;
  for (int s=0;s<10;s++){
    int M=shapes[s][0],K=shapes[s][1],N=shapes[s][2];
    float *A=malloc(sizeof(float)*M*K), *B=malloc(sizeof(float)*K*N), *C=malloc(sizeof(float)*M*N), *C1=malloc(sizeof(float)*M*N);
    for(int i=0;i<M*K;i++)A[i]=rnd(); for(int i=0;i<K*N;i++)B[i]=rnd();
    openblas_set_num_threads(2);
    cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C,N);
    openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C1,N);
    int diff=0; for(int i=0;i<M*N;i++) if(C[i]!=C1[i]) diff++;
    printf("M=%d K=%d N=%d: %d differ\n",M,K,N,diff); bad+=diff>0;
  }
  printf("%d shapes differ\n",bad);
}

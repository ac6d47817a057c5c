#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static float rnd(){ return (float)rand()/RAND_MAX*2-1; }
int main(){
  int shapes[][3] = {{24,216,576},{48,432,144},{192,1728,9},{768,192,9},{640,2560,81},{640,5760,81},{256,2304,324},{96,864,36}};
  int images[] = {2,3,5,8,16};
  int bad=0, total=0;
  for (int s=0;s<8;s++){
    int M=shapes[s][0],K=shapes[s][1],HW=shapes[s][2];
    for(int ii=0;ii<5;ii++){
      int n=images[ii]; int N=n*HW;
      float *A=malloc(sizeof(float)*M*K), *B=malloc(sizeof(float)*K*N), *C=malloc(sizeof(float)*M*N), *C1=malloc(sizeof(float)*M*HW), *B1=malloc(sizeof(float)*K*HW);
      for(int i=0;i<M*K;i++)A[i]=rnd(); for(int i=0;i<K*N;i++)B[i]=rnd();
      cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C,N);
      for(int img=0;img<n;img++){
        for(int k=0;k<K;k++) memcpy(B1+k*HW, B+k*N+img*HW, sizeof(float)*HW);
        cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,HW,K,1,A,K,B1,HW,0,C1,HW);
        int diff=0; for(int m=0;m<M;m++) for(int j=0;j<HW;j++) if (C1[m*HW+j]!=C[m*N+img*HW+j]) diff++;
        total++; if(diff){bad++; printf("M=%d K=%d HW=%d n=%d img=%d: %d differ\n",M,K,HW,n,img,diff);}
      }
      free(A);free(B);free(C);free(C1);free(B1);
    }
  }
  printf("%d of %d image GEMMs differ\n",bad,total);
}
